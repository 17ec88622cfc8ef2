"""Health monitoring: rules over per-step metrics that flag failing RLVR runs."""

from rlvr.monitor.health import RULES, HealthMonitor, HealthWarning, read_metrics, replay

__all__ = ["RULES", "HealthMonitor", "HealthWarning", "read_metrics", "replay"]
