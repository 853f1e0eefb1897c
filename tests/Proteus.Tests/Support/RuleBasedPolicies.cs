namespace Proteus.Tests.Support;

/// <summary>
/// The candidate policies whose sets come from rules over the budgets (SPEC §3): what tests that sweep
/// "every policy" over budgets mean. Explicit lists have no rule; Tests/Explicit cover them.
/// </summary>
public static class RuleBasedPolicies
{
    /// <summary>Aligned, Relative and Seed, for <c>[ValueSource(typeof(RuleBasedPolicies), nameof(All))]</c>.</summary>
    public static readonly CandidatePolicy[] All = [CandidatePolicy.Aligned, CandidatePolicy.Relative, CandidatePolicy.Seed];
}
