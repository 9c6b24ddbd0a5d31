#: Rows per page of /console/audit and ``audit tail``, and the most one may ask for. Here, not in
#: ``service``, so the command line's ``--help`` shows them without importing SQLAlchemy.
PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
