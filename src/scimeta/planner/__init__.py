"""The planner: queries compiled into one SQL statement that builds their JSON."""
