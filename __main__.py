"""mlops-stack: an MLOps platform per environment. See README.md; the program is mlops_stack/program.py."""

import gc

from mlops_stack import program

# What is imported and built here lives until the process exits, yet Python's collector would walk it
# again in every full collection, and several times at exit: about 0.8 s of a 3 s preview of the
# largest stack (bench/). Frozen objects are skipped; garbage made later is still collected.
gc.freeze()
program.main()
gc.freeze()
