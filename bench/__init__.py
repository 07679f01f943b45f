"""The relay benchmark: emulator direct vs nginx vs the gateway, on the same paced echo load."""
