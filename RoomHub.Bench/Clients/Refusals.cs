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
    private static readonly byte[][] FrameCodes = [.. Codes.Select(FrameCode)];
    private static readonly byte[] SendFailedCode = FrameCode(RoomErrorCodes.SendFailed);

    /// <summary>Whether a SignalR error text (<c>"… CODE: text"</c>) is a refusal.</summary>
    public static bool IsRefusal(string error) => ErrorPrefixes.Any(prefix => error.Contains(prefix, StringComparison.Ordinal));

    /// <summary>Whether a legacy frame is an ERROR frame with a refusal code.</summary>
    public static bool IsRefusal(ReadOnlySpan<byte> frame)
    {
        if (!IsError(frame))
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

    /// <summary>
    /// Whether a legacy frame is the ERROR frame of a send that failed with <c>SEND_FAILED</c>: not acknowledged, and
    /// perhaps stored, so its deliveries are still owed if they come.
    /// </summary>
    public static bool IsSendFailure(ReadOnlySpan<byte> frame) => IsError(frame) && frame.IndexOf(SendFailedCode) >= 0;

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

    private static bool IsError(ReadOnlySpan<byte> frame) => frame.StartsWith("{\"type\":\"ERROR\""u8);

    private static byte[] FrameCode(string code) => Encoding.ASCII.GetBytes($"\"code\":\"{code}\"");
}
