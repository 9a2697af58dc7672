"""quantray.search: genetic strategy discovery (DEAP on Ray), Ray Tune + Optuna searches, the strategy
lifecycle (candidate -> validated -> live -> retired) and A/B tests.

Example:
    >>> from quantray.search import Registry, rule_spec
    >>> rule = "and(gt(sma(close,20),sma(close,50)),below(rsi(close,14),70))"
    >>> spec = rule_spec(rule)
    >>> spec.name.startswith("gp_"), list(spec.params)
    (True, ['n1', 'n2', 'n3', 'level1'])
    >>> reg = Registry("sqlite:///:memory:")
    >>> reg.add_candidate(spec.name, strategy=spec.name, params=spec.defaults(), rule=rule).state
    'candidate'
"""

from __future__ import annotations

from quantray.search._abtest import ABResult, ab_test, jobson_korkie, memmel_variance, min_sample_size
from quantray.search._discover import (
    DiscoverConfig,
    DiscoveryResult,
    RuleKernel,
    discover,
    evaluate_batch,
    register_rule,
    rule_spec,
    validation_view,
)
from quantray.search._grammar import GrammarConfig, Node, Program, compile_rule, format_rule, parse_rule
from quantray.search._lifecycle import (
    STATES,
    TRANSITIONS,
    Gates,
    LifecycleError,
    LifecycleEvent,
    MonitorConfig,
    MonitorReport,
    Registry,
    StrategyRecord,
    default_registry_url,
)
from quantray.search._raymap import BatchedMap
from quantray.search._tune import (
    ExperimentStore,
    SearchConfig,
    TuneResult,
    check_registrable,
    experiment_store,
    pareto_front,
    register_tuned,
    repair_experiment_state,
    s3_options,
    search_space,
    tune,
    tune_candidate_metrics,
)

__all__ = [
    "STATES",
    "TRANSITIONS",
    "ABResult",
    "BatchedMap",
    "DiscoverConfig",
    "DiscoveryResult",
    "ExperimentStore",
    "Gates",
    "GrammarConfig",
    "LifecycleError",
    "LifecycleEvent",
    "MonitorConfig",
    "MonitorReport",
    "Node",
    "Program",
    "Registry",
    "RuleKernel",
    "SearchConfig",
    "StrategyRecord",
    "TuneResult",
    "ab_test",
    "check_registrable",
    "compile_rule",
    "default_registry_url",
    "discover",
    "evaluate_batch",
    "experiment_store",
    "format_rule",
    "jobson_korkie",
    "memmel_variance",
    "min_sample_size",
    "pareto_front",
    "parse_rule",
    "register_rule",
    "register_tuned",
    "repair_experiment_state",
    "rule_spec",
    "s3_options",
    "search_space",
    "tune",
    "tune_candidate_metrics",
    "validation_view",
]
