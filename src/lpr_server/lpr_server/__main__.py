from lpr_server.cli import main

raise SystemExit(main())
