"""Case stores: where tickets (complaints, petitions, legal-aid applications) are kept and tracked."""
