"""The bianmin web app (aiohttp): resident chat page, staff console, admin console, JSON APIs."""
