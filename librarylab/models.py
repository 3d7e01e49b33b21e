"""Every table of the service, gathered for migrations and schema checks."""

from booking import orm as booking_orm
from librarylab.accounts import orm as accounts_orm
from librarylab.audit import orm as audit_orm
from librarylab.database import Base
from mail import orm as mail_orm
from printers import orm as printers_orm
from scheduler import orm as scheduler_orm
from stations import orm as stations_orm
from visits import orm as visits_orm

metadata = Base.metadata

__all__ = [
    "accounts_orm",
    "audit_orm",
    "booking_orm",
    "mail_orm",
    "metadata",
    "printers_orm",
    "scheduler_orm",
    "stations_orm",
    "visits_orm",
]
