"""The programs that assemble and run the stack: the `mutualaid` command, the launcher,
the demo, the gateways (nginx's config, the embedded one), the start-up checks."""
