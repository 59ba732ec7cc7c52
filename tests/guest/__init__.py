"""The test guest: Debian's stock kernel under qemu, where ``guest``-marked tests run again."""
