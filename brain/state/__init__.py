"""StudioState: snapshots of the studio computed by pure functions from the cloud mirror."""
