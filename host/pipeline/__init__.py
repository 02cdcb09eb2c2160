"""The embedded speech stack: VAD and turn taking, ASR, local intents, TTS.

Plain, framework-free building blocks (docs/speech.md); the Pipecat services
that wrap them for the conversation pipeline come on top.
"""
