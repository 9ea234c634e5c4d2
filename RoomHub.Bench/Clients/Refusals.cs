using System.Text;
using RoomHub.Bench.Measurement;
using RoomHub.Contracts;

namespace RoomHub.Bench.Clients;

/// <summary>
/// RoomHub's answers that mean "not accepted, nothing stored": a message refused with one of them never reaches the
/// room, unlike one that failed with <c>SEND_FAILED</c> (which may have been stored).
/// </summary>
internal static class Refusals
{
    private static readonly string[] Codes = [RoomErrorCodes.Overloaded, RoomErrorCodes.RateLimited];
    private static readonly string[] ErrorPrefixes = [.. Codes.Select(code => code + ": ")];
    private static readonly byte[][] FrameCodes = [.. Codes.Select(code => Encoding.ASCII.GetBytes($"\"code\":\"{code}\""))];

    /// <summary>Whether a SignalR error text (<c>"… CODE: text"</c>) is a refusal.</summary>
    public static bool IsRefusal(string error) => ErrorPrefixes.Any(prefix => error.Contains(prefix, StringComparison.Ordinal));

    /// <summary>Whether a legacy frame is an ERROR frame with a refusal code.</summary>
    public static bool IsRefusal(ReadOnlySpan<byte> frame)
    {
        if (!frame.StartsWith("{\"type\":\"ERROR\""u8))
        {
            return false;
        }

        foreach (var code in FrameCodes)
        {
            if (frame.IndexOf(code) >= 0)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>A SignalR send that failed with <paramref name="error"/>: a refusal is reported, anything else counted as a send error.</summary>
    public static void OnSendFailed(string? error, Action? onRefused, RunStats stats)
    {
        if (error is not null && IsRefusal(error))
        {
            onRefused?.Invoke();
        }
        else
        {
            stats.CountSendError();
        }
    }
}
