"""Sub-commands of `lepton-tf`: each module here defines `register(subparsers)`.

`lepton_tf.cli` discovers them, so adding a command is adding a module.
"""
