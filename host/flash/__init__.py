"""`pipit flash`: firmware with esptool, the app with mpremote, then wait for the device's hello."""
