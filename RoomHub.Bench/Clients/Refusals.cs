using RoomHub.Contracts;

namespace RoomHub.Bench.Clients;

/// <summary>
/// RoomHub's answers that mean "not accepted, nothing stored": a message refused with one of them never reaches the
/// room, unlike one that failed with <c>SEND_FAILED</c> (which may have been stored).
/// </summary>
internal static class Refusals
{
    private static readonly string[] Codes = [RoomErrorCodes.Overloaded, RoomErrorCodes.RateLimited];

    /// <summary>Whether a SignalR error text (<c>"… CODE: text"</c>) is a refusal.</summary>
    public static bool IsRefusal(string error) => Codes.Any(code => error.Contains(code + ": ", StringComparison.Ordinal));

    /// <summary>Whether a legacy frame is an ERROR frame with a refusal code.</summary>
    public static bool IsRefusal(ReadOnlySpan<byte> frame)
    {
        if (!frame.StartsWith("{\"type\":\"ERROR\""u8))
        {
            return false;
        }

        foreach (var code in Codes)
        {
            if (frame.IndexOf(System.Text.Encoding.ASCII.GetBytes($"\"code\":\"{code}\"")) >= 0)
            {
                return true;
            }
        }

        return false;
    }
}
