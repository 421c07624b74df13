use super::*;

#[test]
fn claude_timeout_is_twice_the_budget_rounded_up_plus_a_second() {
    assert_eq!(claude_timeout_secs(HOOK_BUDGET), 5);
    assert_eq!(claude_timeout_secs(Duration::from_millis(1200)), 4);
    assert_eq!(claude_timeout_secs(Duration::ZERO), 1);
    assert_eq!(claude_timeout_secs(Duration::MAX), u64::MAX);
}
