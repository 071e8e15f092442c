"""mlops-stack: an MLOps platform per environment. See README.md; the program is infra/program.py."""

from infra import program

program.main()
