"""Lab machines (``python -m lab``, ``./mmapconf lab``): the suite on machines reached over SSH, one matrix.

One module per job: command_line (the options and the machine specs), ssh (the ssh client's command lines, the
probe of each machine, the remote run of the suite), remote (the agent that runs on the machine, standard library
only), run_reports (each machine's report with the lab's facts, or a stand-in for one that gave none), runner
(main). Standard library and pip only (the bundle's builder), like bundle/: it runs with the machine's python3.
"""
