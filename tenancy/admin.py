"""Django admin is not mounted: tenant data is changed through services that audit."""
