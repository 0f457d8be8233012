"""ReasonThrottle: one period per reason, held-back counts reported with the next admitted message."""
from __future__ import annotations

import pytest

from depth_motion_ros.node_support.reason_throttle import ReasonThrottle


def test_each_reason_has_its_own_period_and_reports_what_it_held_back():
    throttle = ReasonThrottle(5.0)
    assert [throttle.admit(reason, 0.0) for reason in ("a", "b", "c", "d")] == [0, 0, 0, 0]
    assert throttle.admit("a", 1.0) is None and throttle.admit("a", 4.9) is None
    assert throttle.admit("b", 4.9) is None
    assert throttle.admit("a", 5.0) == 2
    assert throttle.admit("a", 5.1) is None
    assert throttle.admit("b", 6.0) == 1
    assert throttle.admit("c", 100.0) == 0


def test_memory_is_bounded_by_forgetting_the_least_recent_reason():
    throttle = ReasonThrottle(5.0, max_reasons=2)
    throttle.admit("a", 0.0)
    throttle.admit("b", 0.0)
    throttle.admit("c", 0.0)  # forgets "a"
    assert throttle.admit("a", 1.0) == 0
    assert throttle.admit("c", 1.0) is None


def test_bad_settings_are_refused():
    with pytest.raises(ValueError):
        ReasonThrottle(-1.0)
    with pytest.raises(ValueError):
        ReasonThrottle(1.0, max_reasons=0)
