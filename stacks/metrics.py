"""The metrics the alarms and the dashboard share: SageMaker endpoint metrics and the decision metrics."""

from __future__ import annotations

from dataclasses import dataclass

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cw

from controller import publish
from controller.config import SIMULATED_NAMESPACE

DECISION_NAMESPACE = "RLAutoscaler"
"""Namespace of the handler's decision metrics (env AUTOSCALER_METRICS_NAMESPACE on the model container)."""
CONTROLLER_NAMESPACE = publish.NAMESPACE
"""Namespace of the controller's metrics (dimensions {Stage} and {Stage, Fleet}); owned by controller/publish.py."""
SIMULATED_FLEET_NAMESPACE = SIMULATED_NAMESPACE
"""Where simulated fleets publish their own RequestCount and FailedRequests (owned by controller/config.py)."""
ONE_MINUTE = cdk.Duration.minutes(1)


@dataclass(frozen=True)
class EndpointMetrics:
    """The endpoint's metrics, shared by the alarms and the dashboard."""

    endpoint_name: str
    variant_name: str

    def _metric(self, namespace: str, name: str, statistic: str, label: str | None = None) -> cw.Metric:
        return cw.Metric(
            namespace=namespace,
            metric_name=name,
            dimensions_map={"EndpointName": self.endpoint_name, "VariantName": self.variant_name},
            statistic=statistic,
            period=ONE_MINUTE,
            label=label,
        )

    def invocation(self, name: str = "Invocations") -> cw.Metric:
        return self._metric("AWS/SageMaker", name, "Sum")

    def error_rate(self, status: str, window: cdk.Duration = ONE_MINUTE) -> cw.MathExpression:
        """Percentage of invocations answered with 4XX or 5XX; no data in a minute without invocations (SageMaker
        publishes none then), which the 5XX rollback alarm counts as breaching. `window`: the period summed over."""
        return cw.MathExpression(
            expression=f"100 * FILL(e{status.lower()}, 0) / inv",
            using_metrics={
                "inv": self.invocation().with_(period=window),
                f"e{status.lower()}": self.invocation(f"Invocation{status}Errors").with_(period=window),
            },
            label=f"{status} rate (%)",
            period=window,
        )

    def latency_ms(self, name: str, percentile: str) -> cw.MathExpression:
        """SageMaker reports ModelLatency and OverheadLatency in microseconds; show milliseconds."""
        ident = f"{name.lower()}_{percentile}_us"
        return cw.MathExpression(
            expression=f"{ident} / 1000",
            using_metrics={ident: self._metric("AWS/SageMaker", name, percentile)},
            label=f"{name} {percentile} (ms)",
            period=ONE_MINUTE,
        )

    def utilization(self, name: str, statistic: str = "Average") -> cw.Metric:
        return self._metric("/aws/sagemaker/Endpoints", name, statistic)


@dataclass(frozen=True)
class EndpointDecisionMetrics:
    """The handler's own EMF decision metrics (namespace RLAutoscaler, dimension {Stage}), endpoint-side.

    The controller publishes per-fleet decisions (RLAutoscaler/Controller); these stay because they are measured
    inside the model container, so the fallback and shield-override alarms see a blue/green canary's answers
    (whoever calls it). Requests marked as smoke tests (CustomAttributes) are left out by the handler.
    """

    stage: str

    def share(self, name: str, window: cdk.Duration = ONE_MINUTE) -> cw.MathExpression:
        """Percentage of decisions counted in `name` (Fallbacks, ShieldOverrides) over `window`; no data without
        decisions."""
        ident = name.lower()
        return cw.MathExpression(
            expression=f"100 * FILL({ident}, 0) / decisions",
            using_metrics={
                ident: decision_metric(self.stage, name, "Sum").with_(period=window),
                "decisions": decision_metric(self.stage, "Decisions", "Sum").with_(period=window),
            },
            label=f"{name} (% of decisions)",
            period=window,
        )


def decision_metric(stage: str, name: str, statistic: str) -> cw.Metric:
    return cw.Metric(
        namespace=DECISION_NAMESPACE,
        metric_name=name,
        dimensions_map={"Stage": stage},
        statistic=statistic,
        period=ONE_MINUTE,
        label=name,
    )


def controller_metric(
    stage: str, name: str, statistic: str, fleet: str | None = None, label: str | None = None
) -> cw.Metric:
    """A controller metric per stage, or per fleet when `fleet` is given: only a name the controller publishes."""
    published = publish.STAGE_METRICS if fleet is None else publish.FLEET_METRICS
    if name not in published:
        raise ValueError(
            f"{name}: not a {'stage' if fleet is None else 'fleet'} metric the controller publishes "
            f"(controller/publish.py: {', '.join(published)})"
        )
    dimensions = {"Stage": stage} if fleet is None else {"Stage": stage, "Fleet": fleet}
    return cw.Metric(
        namespace=CONTROLLER_NAMESPACE,
        metric_name=name,
        dimensions_map=dimensions,
        statistic=statistic,
        period=ONE_MINUTE,
        label=label or name,
    )
