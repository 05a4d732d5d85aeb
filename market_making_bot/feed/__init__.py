"""The feed, pure and synchronous: frames in; state changes, typed events and commands out
(Core, Session, FeedProtocol, events, Health)."""
