using RoomHub.Server;

var builder = WebApplication.CreateBuilder(args);
builder.AddRoomHub();

var app = builder.Build();
app.MapRoomHub();
app.Run();
