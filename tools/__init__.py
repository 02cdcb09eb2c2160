"""Development tools: the virtual board (a simulated ESP32 ROM loader and MicroPython board on a pty)."""
