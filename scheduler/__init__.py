"""pardata's central scheduler.

`scheduler.state.SchedulerState` is the pure state machine (events in, commands out; see
`scheduler.events` and `scheduler.commands`); the server around it owns the sockets.
"""
