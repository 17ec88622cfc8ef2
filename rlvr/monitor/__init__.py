"""Health monitoring: rules over per-step metrics that flag failing RLVR runs."""

from rlvr.monitor.health import (
    RULES,
    HealthMonitor,
    HealthRule,
    HealthThresholds,
    HealthWarning,
    read_metrics,
    register_health_rule,
    replay,
)

__all__ = ["RULES", "HealthMonitor", "HealthRule", "HealthThresholds", "HealthWarning", "read_metrics",
           "register_health_rule", "replay"]
