"""adapters/storage"""
