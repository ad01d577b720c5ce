import { isText, isTimestamp, recordService } from './record';

const isProduct = (product: any) =>
  isText(product?.id, 1, 64) && isText(product.name, 1, 200) &&
  (product.description === undefined || isText(product.description, 0, 2000)) &&
  Number.isSafeInteger(product.price?.amount) && product.price.amount >= 0 && /^[A-Z]{3}$/.test(product.price.currency) &&
  Number.isSafeInteger(product.stock) && product.stock >= 0 && isTimestamp(product.created_at) && isTimestamp(product.updated_at);

export default recordService('PRODUCTS_KV', 'product:', '/products/:id', isProduct, 'product');
