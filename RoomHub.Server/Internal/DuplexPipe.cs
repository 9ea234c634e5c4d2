using System.IO.Pipelines;

namespace RoomHub.Server.Internal;

/// <summary>A reader and a writer paired as one duplex pipe (a connection's transport, or a wrapper of it).</summary>
internal sealed class DuplexPipe(PipeReader input, PipeWriter output) : IDuplexPipe
{
    public PipeReader Input { get; } = input;

    public PipeWriter Output { get; } = output;
}
