"""Flask extensions, created unbound; `create_app` binds them."""

from typing import TYPE_CHECKING

from flask_bootstrap import Bootstrap5
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect

from ecrf.db import Base

db = SQLAlchemy(model_class=Base)
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
bootstrap = Bootstrap5()

if TYPE_CHECKING:  # db.Model is made at run time, where mypy cannot see it: the models subclass `Model`
    Model = Base
else:
    Model = db.Model
