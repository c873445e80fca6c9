//! The rules engine: an ordered list of matcher → outputs, with
//! continue/stop, per-rule transforms and a default output. It implements
//! [`EventRouter`], so applications can use it without the runtime.

use std::sync::Arc;

use eventstorm_core::{Counter, EventRouter, Matcher, RawEventRef, Routed, Stats};

use crate::config::RouterConfig;
use crate::transform::{Outcome, Transform};
use eventstorm_core::config::ConfigError;

/// The counters of one rule, readable from any thread.
#[derive(Debug, Default)]
pub struct RuleCounters {
    /// Events the rule's matcher accepted.
    pub matches: Counter,
    /// Matched events not sent because of sampling.
    pub sampled_out: Counter,
    /// Matched events changed (and so re-encoded) by the transform.
    pub transformed: Counter,
    /// Events the transform could not apply to (sent unchanged).
    pub transform_errors: Counter,
}

/// The counters of a [`Rules`] engine.
#[derive(Debug, Default)]
pub struct RulesCounters {
    /// Each rule's name and counters, in rule order.
    pub rules: Vec<(String, Arc<RuleCounters>)>,
    /// Events no rule matched, sent to the default output.
    pub unmatched_default: Counter,
    /// Events no rule matched, dropped (no default output).
    pub unmatched_dropped: Counter,
}

impl RulesCounters {
    /// Appends the counters to a snapshot (`rule.NAME.matches`, ..., `unmatched_dropped`).
    pub fn append_to(&self, stats: &mut Stats) {
        for (name, c) in &self.rules {
            stats
                .push(format!("rule.{name}.matches"), c.matches.get())
                .push(format!("rule.{name}.sampled_out"), c.sampled_out.get())
                .push(format!("rule.{name}.transformed"), c.transformed.get())
                .push(
                    format!("rule.{name}.transform_errors"),
                    c.transform_errors.get(),
                );
        }
        stats
            .push("unmatched_default", self.unmatched_default.get())
            .push("unmatched_dropped", self.unmatched_dropped.get());
    }
}

#[derive(Debug)]
struct Rule {
    matcher: Matcher,
    outputs: Vec<usize>,
    continue_: bool,
    transform: Option<Transform>,
    counters: Arc<RuleCounters>,
}

/// The rules of a [`RouterConfig`], compiled.
///
/// ```
/// use eventstorm_core::{Event, EventRouter, RawEvent, Routed};
/// use eventstorm_router::{RouterConfig, Rules};
///
/// let config = RouterConfig::from_toml_str(r#"
///     router.default_output = "rest"
///     [[inputs]]
///     bind = ["tcp://127.0.0.1:*"]
///     [[outputs]]
///     name = "volumes"
///     bind = ["tcp://127.0.0.1:*"]
///     [[outputs]]
///     name = "rest"
///     bind = ["tcp://127.0.0.1:*"]
///     [[rules]]
///     match = "volume.*"
///     outputs = ["volumes"]
/// "#, "example")?;
/// let mut rules = Rules::new(&config)?;
/// let mut routes = Vec::new();
/// let event = RawEvent::from_event(&Event::builder("volume.create.end").build())?;
/// rules.route(event.view(), &mut routes)?;
/// assert_eq!(routes, vec![Routed::Original(0)]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Rules {
    output_names: Vec<String>,
    rules: Vec<Rule>,
    default_output: Option<usize>,
    counters: Arc<RulesCounters>,
}

impl Rules {
    /// Compiles the rules of a configuration (validating it first).
    pub fn new(config: &RouterConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        let output_names: Vec<String> = config.outputs.iter().map(|o| o.name.clone()).collect();
        let index = |name: &str| output_names.iter().position(|n| n == name);
        let mut counters = RulesCounters::default();
        let mut rules = Vec::with_capacity(config.rules.len());
        for (rule, name) in config.rules.iter().zip(config.rule_names()) {
            let rule_counters = Arc::new(RuleCounters::default());
            counters.rules.push((name, Arc::clone(&rule_counters)));
            rules.push(Rule {
                matcher: rule.matcher.clone(),
                outputs: rule.outputs.iter().filter_map(|o| index(o)).collect(),
                continue_: rule.continue_,
                transform: (!rule.transform.is_identity()).then(|| Transform::new(&rule.transform)),
                counters: rule_counters,
            });
        }
        Ok(Rules {
            default_output: config.router.default_output.as_deref().and_then(index),
            output_names,
            rules,
            counters: Arc::new(counters),
        })
    }

    /// The live counters, readable from any thread.
    pub fn counters(&self) -> Arc<RulesCounters> {
        Arc::clone(&self.counters)
    }

    /// For each output, the subscription prefixes that cover every event type
    /// the rules can send there (`""`: any type).
    pub fn output_prefixes(&self) -> Vec<Vec<String>> {
        let mut prefixes = vec![Vec::new(); self.output_names.len()];
        for rule in &self.rules {
            for &output in &rule.outputs {
                prefixes[output].extend(rule.matcher.subscriptions());
            }
        }
        if let Some(default) = self.default_output {
            prefixes[default] = vec![String::new()];
        }
        for list in &mut prefixes {
            list.sort();
            list.dedup();
        }
        prefixes
    }
}

fn push_original(routes: &mut Vec<Routed>, output: usize) {
    if !routes
        .iter()
        .any(|r| matches!(r, Routed::Original(o) if *o == output))
    {
        routes.push(Routed::Original(output));
    }
}

impl EventRouter for Rules {
    fn outputs(&self) -> Vec<String> {
        self.output_names.clone()
    }

    fn route(
        &mut self,
        event: RawEventRef<'_>,
        routes: &mut Vec<Routed>,
    ) -> eventstorm_core::Result<()> {
        let mut matched = false;
        for rule in &mut self.rules {
            if !rule.matcher.matches_raw(event) {
                continue;
            }
            matched = true;
            rule.counters.matches.inc();
            let outcome = match &mut rule.transform {
                None => Outcome::Unchanged,
                Some(t) => t.apply(event).unwrap_or_else(|e| {
                    rule.counters.transform_errors.inc();
                    tracing::debug!("transform not applied: {e}");
                    Outcome::Unchanged
                }),
            };
            match outcome {
                Outcome::SampledOut => rule.counters.sampled_out.inc(),
                Outcome::Unchanged => {
                    for &output in &rule.outputs {
                        push_original(routes, output);
                    }
                }
                Outcome::Changed(raw) => {
                    rule.counters.transformed.inc();
                    if let Some((&last, rest)) = rule.outputs.split_last() {
                        for &output in rest {
                            routes.push(Routed::Transformed(output, raw.clone()));
                        }
                        routes.push(Routed::Transformed(last, raw));
                    }
                }
            }
            if !rule.continue_ {
                break;
            }
        }
        if !matched {
            match self.default_output {
                Some(output) => {
                    self.counters.unmatched_default.inc();
                    routes.push(Routed::Original(output));
                }
                None => self.counters.unmatched_dropped.inc(),
            }
        }
        Ok(())
    }

    fn stats(&self) -> Stats {
        let mut stats = Stats::new("rules");
        self.counters.append_to(&mut stats);
        stats
    }
}
