"""``python -m mpbench doctor``: what this machine can measure (see :mod:`mpbench.doctor`)."""
import sys

COMMANDS = {"doctor": "what this machine can measure for the chosen config: CPU features, GPUs per framework, "
                      "NVML, SLURM, Edge TPU, and which cells will be unavailable or emulated (with fixes)"}


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in COMMANDS:
        print("usage: python -m mpbench COMMAND [options]\n\ncommands:\n"
              + "\n".join(f"  {k:<8} {v}" for k, v in COMMANDS.items()), file=sys.stderr)
        return 2
    from . import doctor
    return doctor.main(argv[1:])


if __name__ == "__main__":
    sys.exit(main())
