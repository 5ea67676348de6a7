from config.settings import ApiToken, CalendarHours, ConfigError, Settings, load_settings

__all__ = ["ApiToken", "CalendarHours", "ConfigError", "Settings", "load_settings"]
