using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Logging;

namespace RoomHub.Bench.Targets;

/// <summary>The host of the bench's own comparison servers: a slim ASP.NET Core app on one loopback port, no logging.</summary>
internal static class LoopbackApp
{
    public static WebApplicationBuilder CreateBuilder(int port)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, port));
        return builder;
    }
}
