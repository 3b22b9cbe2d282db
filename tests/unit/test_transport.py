"""The transport's process-wide setting: the garbage collector is spared during per-fan sends, then restored."""

import gc

import pytest

from wechat_campaigns.wechat.transport import fewer_collections


def test_the_collector_is_restored_after_the_sends_even_when_they_fail():
    before = gc.get_threshold()
    with pytest.raises(RuntimeError), fewer_collections():
        assert gc.get_threshold()[0] >= 20_000
        assert gc.get_freeze_count() > 0  # what the process held when the sends began
        raise RuntimeError("the batch failed")
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
