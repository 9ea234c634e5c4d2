using System.Globalization;

namespace RoomHub.Bench.Measurement;

/// <summary>CPU time and resident memory of one process, read from <c>/proc/&lt;pid&gt;/stat</c> and <c>/proc/&lt;pid&gt;/status</c>.</summary>
internal readonly record struct ProcSample(TimeSpan CpuTime, long RssBytes)
{
    /// <summary>Clock ticks per second of the utime/stime fields; 100 on every Linux this runs on (USER_HZ).</summary>
    public const int TicksPerSecond = 100;

    public static ProcSample Read(int pid) =>
        new(ParseCpuTime(File.ReadAllText($"/proc/{pid}/stat")), ParseRssBytes(File.ReadAllText($"/proc/{pid}/status")));

    public static bool TryRead(int pid, out ProcSample sample)
    {
        try
        {
            sample = Read(pid);
            return true;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException)
        {
            sample = default;
            return false;
        }
    }

    /// <summary>
    /// utime + stime (fields 14 and 15) of a <c>/proc/pid/stat</c> line. The command name (field 2) is in parentheses
    /// and may itself hold spaces and parentheses, so fields are counted from the last <c>)</c>.
    /// </summary>
    public static TimeSpan ParseCpuTime(string stat)
    {
        var close = stat.LastIndexOf(')');
        if (close < 0)
        {
            throw new FormatException("Not a /proc/pid/stat line: no ')'.");
        }

        // After ")": field 3 (state) is the first; utime is field 14, stime field 15.
        var fields = stat[(close + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (fields.Length < 13)
        {
            throw new FormatException("Not a /proc/pid/stat line: too few fields.");
        }

        var ticks = long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
        return TimeSpan.FromTicks(ticks * (TimeSpan.TicksPerSecond / TicksPerSecond));
    }

    /// <summary>The <c>VmRSS:</c> line of <c>/proc/pid/status</c> (in kB there), in bytes.</summary>
    public static long ParseRssBytes(string status)
    {
        foreach (var line in status.Split('\n'))
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
            {
                var parts = line["VmRSS:".Length..].Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
                return long.Parse(parts[0], CultureInfo.InvariantCulture) * 1024;
            }
        }

        throw new FormatException("No VmRSS line in /proc/pid/status.");
    }
}
