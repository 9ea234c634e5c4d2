using System.Text.RegularExpressions;

namespace RoomHub.Server.Internal;

/// <summary>Room name patterns where <c>*</c> stands for any run of characters (<c>lobby</c>, <c>team:*</c>, <c>*</c>).</summary>
internal sealed class RoomPatterns
{
    private readonly Regex? _regex;

    public RoomPatterns(IEnumerable<string> patterns)
    {
        var alternatives = patterns.Where(p => !string.IsNullOrEmpty(p)).Select(p => Regex.Escape(p).Replace("\\*", ".*", StringComparison.Ordinal)).ToArray();
        if (alternatives.Length > 0)
        {
            _regex = new Regex("^(?:" + string.Join("|", alternatives) + ")$", RegexOptions.CultureInvariant | RegexOptions.NonBacktracking);
        }
    }

    public bool Matches(string room) => _regex?.IsMatch(room) ?? false;
}
