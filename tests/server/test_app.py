"""The server's process-wide settings."""

import gc


def test_what_the_server_loaded_is_out_of_the_collectors_reach_once_it_listens(tiny_server):
    """A full collection must not walk the model, the LM and the imported modules: in a loaded server it
    took 100-190 ms with the GIL held, every few seconds, and every stream of the process waited."""
    assert gc.get_freeze_count() > 0
    rec = tiny_server.server.rec
    tracked = {id(o) for o in gc.get_objects()}  # the collector's generations; frozen objects are not in them
    assert gc.is_tracked(rec) and id(rec) not in tracked
    assert id(rec.model) not in tracked
