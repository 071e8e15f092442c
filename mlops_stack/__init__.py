"""The top floor: the Pulumi program, the mlops-stack command, the offline engine (Pulumi mocks),
rendering, the environment lifecycle, model releases and the on-demand post-deploy check.

It imports everything below it (infra, components, stacks); nothing below imports it.
"""
