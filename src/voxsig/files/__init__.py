"""Files (attachments): where their bytes live, what kind they are, their images' sizes and
thumbnails, and the signed, expiring links that serve them."""
