//! The one shape every lifecycle in baton shares.
//!
//! Sessions, agents, observations and handoffs each move through a small set of
//! states. Each is an enum whose allowed edges are written once, in
//! [`Lifecycle::allows`]; every change of state goes through
//! [`Lifecycle::transition`], so an invalid change is refused with the same typed
//! error wherever it is attempted, and nothing is written for it.

use std::fmt;

/// A change of state that the lifecycle does not allow.
///
/// Carried to users as a conflict (HTTP 409, CLI exit 5): the record is unchanged.
///
/// It reads as the user's words: "agent X is already running" when the
/// record is where the change would take it, or past it; "handoff X is
/// initiated and cannot become completed" otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidTransition {
    /// Which kind of record refused, such as `session`, so the message reads on its own.
    pub entity: &'static str,
    /// The record's id (an observation's sequence number), when known.
    pub id: Option<String>,
    /// The state the record is in, which stays as it was.
    pub from: String,
    /// The state that was asked for.
    pub to: String,
    /// Whether the record is already in the state asked for, or past it in
    /// its lifecycle.
    pub already: bool,
}

impl InvalidTransition {
    /// The refusal of `from -> to`.
    pub fn between<S: Lifecycle>(from: S, to: S) -> Self {
        Self::named(S::ENTITY, from, to.to_string(), from.rank() >= to.rank())
    }

    /// The refusal of moving a record of `entity` from `from` to what `to` names.
    pub fn named(entity: &'static str, from: impl fmt::Display, to: String, already: bool) -> Self {
        Self { entity, id: None, from: from.to_string(), to, already }
    }

    /// The same refusal, naming the record.
    pub fn of(mut self, id: impl fmt::Display) -> Self {
        self.id = Some(id.to_string());
        self
    }
}

impl fmt::Display for InvalidTransition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.entity)?;
        if let Some(id) = &self.id {
            write!(f, " {id}")?;
        }
        if self.already {
            write!(f, " is already {}", self.from)
        } else {
            write!(f, " is {} and cannot become {}", self.from, self.to)
        }
    }
}

impl std::error::Error for InvalidTransition {}

/// A lifecycle: a state enum and the edges between its states.
pub trait Lifecycle: Copy + Eq + fmt::Display + 'static {
    /// The record kind, for error messages (`"session"`, `"agent"`, ...).
    const ENTITY: &'static str;

    /// Whether `self -> next` is an edge of this lifecycle.
    fn allows(self, next: Self) -> bool;

    /// Whether no edge leaves this state.
    fn is_terminal(self) -> bool;

    /// Every state, in lifecycle order.
    const ORDER: &'static [Self];

    /// Where this state stands in the lifecycle's order.
    fn rank(self) -> usize {
        Self::ORDER.iter().position(|state| *state == self).unwrap_or(0)
    }

    /// `next` when `self -> next` is allowed, else a typed refusal.
    fn transition(self, next: Self) -> Result<Self, InvalidTransition> {
        if self.allows(next) { Ok(next) } else { Err(InvalidTransition::between(self, next)) }
    }
}

/// Implements `Display` and `FromStr` for a state enum from its snake_case names,
/// the same names serde uses on the wire and the CLI accepts.
macro_rules! state_names {
    ($ty:ident { $($variant:ident => $name:literal),+ $(,)? }) => {
        impl $ty {
            /// Every state, in lifecycle order.
            pub const ALL: &'static [$ty] = &[$($ty::$variant),+];

            /// The snake_case name used on the wire, in the CLI and in metrics.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($ty::$variant => $name),+
                }
            }
        }

        impl ::std::fmt::Display for $ty {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::std::str::FromStr for $ty {
            type Err = $crate::model::UnknownState;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($name => Ok($ty::$variant),)+
                    _ => Err($crate::model::UnknownState {
                        entity: <$ty as $crate::model::Lifecycle>::ENTITY,
                        given: s.to_owned(),
                        states: &[$($name),+],
                    }),
                }
            }
        }
    };
}
pub(crate) use state_names;

/// A state name that no state of the lifecycle has (from a CLI flag or a
/// query); it says which names there are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownState {
    /// Which kind of record the name was meant for.
    pub entity: &'static str,
    /// The name as given.
    pub given: String,
    /// The names of the lifecycle's states, in its order.
    pub states: &'static [&'static str],
}

impl fmt::Display for UnknownState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let article = if self.entity.starts_with(['a', 'e', 'i', 'o', 'u']) { "an" } else { "a" };
        write!(f, "{:?} is not {article} {} state (one of: {})", self.given, self.entity, self.states.join(", "))
    }
}

impl std::error::Error for UnknownState {}

/// Test support: checks a lifecycle against the full list of its edges, both ways.
#[cfg(test)]
pub(crate) fn assert_edges<S: Lifecycle + fmt::Debug>(all: &[S], edges: &[(S, S)]) {
    for &from in all {
        for &to in all {
            let listed = edges.contains(&(from, to));
            let result = from.transition(to);
            assert_eq!(
                result.is_ok(),
                listed,
                "{} {from} -> {to}: expected {}",
                S::ENTITY,
                if listed { "allowed" } else { "refused" }
            );
            if let Err(err) = result {
                assert_eq!(err.from, from.to_string());
                assert_eq!(err.to, to.to_string());
            }
        }
        let leaves = edges.iter().any(|&(f, _)| f == from);
        assert_eq!(from.is_terminal(), !leaves, "{from}: terminal mismatch");
    }
}
