"""Health monitoring: rules over per-step metrics that flag failing RLVR runs."""

from rlvr.monitor.health import RULES, HealthMonitor, HealthThresholds, HealthWarning, read_metrics, replay

__all__ = ["RULES", "HealthMonitor", "HealthThresholds", "HealthWarning", "read_metrics", "replay"]
