from zscheck.cli import main

raise SystemExit(main())
