from faxd.cli import main   # it monkey-patches for gevent once the arguments are parsed

raise SystemExit(main())
