"""``python -m mpbench doctor``: what this machine can measure (:mod:`mpbench.preflight.doctor`);
``python -m mpbench merge``: result folders from several places combined (:mod:`mpbench.merge`)."""
import sys

COMMANDS = {"doctor": "what this machine can measure for the chosen config: CPU features, GPUs per framework, "
                      "NVML, SLURM, Edge TPU, and which cells will be unavailable or emulated (with fixes)",
            "merge": "result folders from several places into one new folder (DIR... --into OUT): nothing "
                     "overwritten, conflicts kept aside, what differs between them in merge_report.md"}


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in COMMANDS:
        print("usage: python -m mpbench COMMAND [options]\n\ncommands:\n"
              + "\n".join(f"  {k:<8} {v}" for k, v in COMMANDS.items()), file=sys.stderr)
        return 2
    if argv[0] == "merge":
        from . import merge
        return merge.main(argv[1:])
    from .preflight import doctor
    return doctor.main(argv[1:])


if __name__ == "__main__":
    sys.exit(main())
