"""Small helpers shared by the scripts and the loop."""
